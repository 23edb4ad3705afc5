"""Deterministic, realistic Chinese personal data for demo and test files (fixed seeds, no real people).

Surnames follow their rough frequency in China; resident IDs carry a Beijing Daxing district code
(110115, where the development area lies), a plausible birth date and a correct GB 11643 check digit.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from dmlib.schemas import resident_id_check_char

SURNAMES = (
    "王" * 72
    + "李" * 72
    + "张" * 68
    + "刘" * 52
    + "陈" * 47
    + "杨" * 34
    + "黄" * 25
    + "赵" * 21
    + "吴" * 20
    + "周" * 19
    + "徐" * 15
    + "孙" * 15
    + "马" * 14
    + "朱" * 13
    + "胡" * 12
    + "郭" * 12
    + "何" * 11
    + "高" * 10
    + "林" * 10
    + "罗" * 10
    + "郑" * 9
    + "梁" * 9
    + "谢" * 7
    + "宋" * 7
    + "唐" * 7
    + "许" * 6
    + "韩" * 6
    + "冯" * 6
    + "邓" * 6
    + "曹" * 6
    + "彭" * 5
    + "曾" * 5
    + "肖" * 5
    + "田" * 5
    + "董" * 5
    + "袁" * 5
    + "潘" * 4
    + "于" * 4
    + "蒋" * 4
    + "蔡" * 4
    + "余" * 4
    + "杜" * 4
    + "叶" * 4
    + "程" * 4
    + "苏" * 4
    + "魏" * 4
    + "吕" * 4
    + "丁" * 4
    + "任" * 3
    + "沈" * 3
    + "姚" * 3
    + "卢" * 3
    + "姜" * 3
    + "崔" * 3
    + "钟" * 3
    + "谭" * 3
    + "陆" * 3
    + "汪" * 3
    + "范" * 3
    + "金" * 3
    + "石" * 3
    + "廖" * 3
    + "贾" * 3
    + "夏" * 3
    + "韦" * 2
    + "付" * 2
    + "方" * 2
    + "白" * 2
    + "邹" * 2
    + "孟" * 2
    + "熊" * 2
    + "秦" * 2
    + "邱" * 2
    + "江" * 2
    + "尹" * 2
    + "薛" * 2
    + "闫" * 2
    + "段" * 2
    + "雷" * 2
    + "侯" * 2
    + "龙" * 2
    + "史" * 2
    + "陶" * 2
    + "黎" * 2
    + "贺" * 2
    + "顾" * 2
    + "毛" * 2
    + "郝" * 2
)
GIVEN_M = "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林欢阳建国志文博晨昊然子轩浩然宇航振华海峰立新永胜德明"
GIVEN_F = (
    "芳娜敏静丽艳娟霞秀英慧婷雪琳晶颖玲桂兰红梅洁燕萍琴云莉倩佳怡欣悦雨涵梓萱诗琪紫嫣思彤雅静晓梅春燕淑珍"
)
DISTRICT_CODE = "110115"


def person(rng: random.Random) -> tuple[str, str]:
    """(name, gender M/F): a surname and one or two given-name characters."""
    gender = rng.choice("MF")
    chars = GIVEN_M if gender == "M" else GIVEN_F
    given = rng.choice(chars) + (rng.choice(chars) if rng.random() < 0.62 else "")
    return rng.choice(SURNAMES) + given, gender


def resident_id(rng: random.Random, gender: str, serial: int | None = None) -> str:
    """A syntactically valid 18-character resident ID (GB 11643): region, birth date, serial, check."""
    born = date(1966, 1, 1) + timedelta(days=rng.randrange(0, 365 * 38))
    seq = serial if serial is not None else rng.randrange(0, 500)
    odd = seq * 2 + (1 if gender == "M" else 0)  # the 17th digit is odd for men, even for women
    first17 = f"{DISTRICT_CODE}{born:%Y%m%d}{odd % 1000:03d}"
    return first17 + resident_id_check_char(first17)


def unique_resident_id(index: int, gender: str, region: str) -> str:
    """A valid resident ID that is unique for each (region, index < 6,900,000): the index picks the birth
    date and the serial. For generated test files that must not collide with each other or the demo."""
    born = date(1966, 1, 1) + timedelta(days=(index // 500) % 13800)
    odd = (index % 500) * 2 + (1 if gender == "M" else 0)
    first17 = f"{region}{born:%Y%m%d}{odd:03d}"
    return first17 + resident_id_check_char(first17)


def mobile(rng: random.Random) -> str:
    return (
        rng.choice(
            [
                "139",
                "138",
                "137",
                "136",
                "135",
                "150",
                "151",
                "152",
                "158",
                "159",
                "186",
                "187",
                "188",
                "133",
                "153",
                "177",
                "180",
                "189",
            ]
        )
        + f"{rng.randrange(0, 10**8):08d}"
    )
