"""The broker/database failure behaviour of dmlib.rpc's entrypoints (drilled for real in tests/drills)."""

import sys
from types import SimpleNamespace
from unittest import mock

import pytest
from kombu.exceptions import OperationalError
from nameko.events import EventHandler
from nameko.rpc import Rpc as NamekoRpc
from pymongo.errors import ServerSelectionTimeoutError

from dmlib.errors import BadInput, ServiceUnavailable
from dmlib.rpc import ResilientRpc, RetryingEventHandler, _boundary

WORKER = SimpleNamespace(entrypoint=SimpleNamespace(method_name="cast_rating"))


def exc_info(exc):
    try:
        raise exc
    except type(exc):
        return sys.exc_info()


def test_a_reply_lost_with_the_broker_does_not_kill_the_service():
    """nameko raises from handle_result when the reply cannot be published; that killed the container."""
    entrypoint = ResilientRpc.__new__(ResilientRpc)
    with mock.patch.object(NamekoRpc, "handle_result", side_effect=OperationalError("ECONNREFUSED")):
        assert entrypoint.handle_result(object(), WORKER, {"receipt": "A"}, None) == ({"receipt": "A"}, None)


def test_an_event_whose_handling_met_an_outage_goes_back_to_the_queue():
    handler = RetryingEventHandler.__new__(RetryingEventHandler)
    handler.queue_consumer = mock.Mock()
    message = object()
    handler.handle_result(message, WORKER, None, exc_info(ServiceUnavailable("database unavailable")))
    handler.queue_consumer.requeue_message.assert_called_once_with(message)
    handler.queue_consumer.ack_message.assert_not_called()


def test_an_event_that_failed_for_another_reason_is_acknowledged_as_before():
    handler = RetryingEventHandler.__new__(RetryingEventHandler)
    handler.queue_consumer = mock.Mock()
    failed = exc_info(BadInput("no"))
    with mock.patch.object(EventHandler, "handle_result", return_value=(None, failed)) as nameko_way:
        handler.handle_result("msg", WORKER, None, failed)
    nameko_way.assert_called_once_with("msg", WORKER, None, failed)  # nameko acknowledges it
    handler.queue_consumer.requeue_message.assert_not_called()


@pytest.mark.parametrize(
    "error", [OperationalError("broker gone"), ServerSelectionTimeoutError("database gone")]
)
def test_broker_and_database_outages_inside_a_worker_are_503(error):
    def work(self):
        raise error

    with pytest.raises(ServiceUnavailable):
        _boundary(work)(object())
