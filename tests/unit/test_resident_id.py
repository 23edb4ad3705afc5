"""GB 11643-1999 resident IDs: 17 digits + ISO 7064 MOD 11-2 check character, real birth date."""

import pytest
from marshmallow import ValidationError

from dmlib.schemas import ResidentId, resident_id_check_char, resident_id_problem

# Check characters computed by hand: sum(digit × weight) mod 11 → "10X98765432".
VALID = ["11010519491231002X", "440524198001010013", "110115198001010019"]


@pytest.mark.parametrize("value", VALID)
def test_valid_ids(value):
    assert resident_id_problem(value) is None


def test_check_char_by_hand():
    # 1*7+1*9+0*10+1*5+0*8+5*4+1*2+9*1+4*6+9*3+1*7+2*9+3*10+1*5+0*8+0*4+2*2 = 167; 167 % 11 = 2 → "X"
    assert resident_id_check_char("11010519491231002") == "X"


@pytest.mark.parametrize(
    "value, reason",
    [
        ("110105194912310021", "check digit"),
        ("11010519491231002", "18 characters"),
        ("1101051949123100211", "18 characters"),
        ("11010519491331002X", "birth date"),  # month 13
        ("11010518000101002X", "out of range"),  # born 1800
        ("A1010519491231002X", "18 characters"),
    ],
)
def test_invalid_ids(value, reason):
    assert reason in resident_id_problem(value)


def test_field_upper_cases_the_check_x():
    assert ResidentId().deserialize("11010519491231002x") == "11010519491231002X"
    with pytest.raises(ValidationError):
        ResidentId().deserialize("110105194912310021")
