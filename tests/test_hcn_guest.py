"""Guest network services and port reservations, on hcsim (asyncio and trio)."""

from __future__ import annotations

import gc
import uuid
from typing import Any

import anyio
import pytest

from aiohcs import _hcn_guest as hg
from aiohcs import testing
from aiohcs.errors import (
    HandleClosedError,
    HcsError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    InvalidDocumentError,
    NotFound,
    UnsupportedOnThisHost,
)

pytestmark = pytest.mark.anyio

E_FAIL = 0x80004005
E_ACCESSDENIED = 0x80070005
GNS = uuid.UUID("6a1f0c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b")


def _released(r: hg.PortReservation) -> bool:
    return r.released  # (a call: mypy does not narrow it across awaits)


def _registered(s: Any) -> bool:
    return bool(s.registered)


def _reservations() -> int:
    return testing.counts().port_reservations


async def test_create_reserve_enumerate_release() -> None:
    async with await hg.create_guest_network_service({}, id=GNS) as gns:
        assert gns.id == GNS
        assert "GuestNetworkService" in repr(gns)
        async with await gns.reserve_port(hg.PortProtocol.TCP, "exclusive", 18080) as one:
            assert (one.start, one.end) == (18080, 18080)
            assert one.protocol is hg.PortProtocol.TCP
            assert one.access is hg.PortAccess.EXCLUSIVE
            assert not _released(one)
            assert _reservations() == 1
            many = await gns.reserve_port_range(10)
            assert many.end - many.start + 1 == 10
            assert many.protocol is None
            entries = await hg.enumerate_port_reservations()
            assert all(isinstance(e, hg.PortRangeEntry) for e in entries)
            ranges = {(e.starting_port, e.ending_port) for e in entries}
            assert (18080, 18080) in ranges
            assert (many.start, many.end) in ranges
            single = next(e for e in entries if e.starting_port == 18080)
            assert single.protocol == hg.PortProtocol.TCP
            await many.release()
            assert many.released
            await many.release()  # idempotent
            assert "released" in repr(many)
        assert one.released
        assert _reservations() == 0
        left = await hg.enumerate_port_reservations()
        assert all(e.starting_port != 18080 for e in left)
    assert gns.closed
    await gns.aclose()  # idempotent
    await hg.delete_guest_network_service(str(GNS).upper())


async def test_delete_and_not_found() -> None:
    gns = await hg.create_guest_network_service(id="{" + str(GNS) + "}")
    await gns.delete()
    assert gns.closed
    with pytest.raises(NotFound) as info:
        await hg.delete_guest_network_service(GNS)
    assert "HcnDeleteGuestNetworkService" in str(info.value)
    assert str(GNS) in str(info.value)


async def test_modify_and_closed_object() -> None:
    gns = await hg.create_guest_network_service('{"Flags": 0}')
    await gns.modify({"Flags": 0})
    await gns.aclose()
    with pytest.raises(HandleClosedError):
        await gns.modify({"Flags": 0})
    with pytest.raises(HandleClosedError):
        await gns.reserve_port("tcp", "shared", 80)
    with pytest.raises(HandleClosedError):
        gns.notifications()
    await hg.delete_guest_network_service(gns.id)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("tcp", "exclusive", 0), InvalidArgumentError),
        (("tcp", "exclusive", 65536), InvalidArgumentError),
        (("tcp", "exclusive", True), InvalidArgumentTypeError),
        (("tcp", "exclusive", "80"), InvalidArgumentTypeError),
        ((7, "exclusive", 80), InvalidArgumentError),
        (("icmp", "exclusive", 80), InvalidArgumentError),
        ((1.0, "exclusive", 80), InvalidArgumentTypeError),
        (("tcp", 3, 80), InvalidArgumentError),
        (("tcp", "public", 80), InvalidArgumentError),
        (("tcp", None, 80), InvalidArgumentTypeError),
    ],
)
async def test_reserve_port_bad_input_before_c(args: tuple[Any, ...], error: type) -> None:
    async with await hg.create_guest_network_service() as gns:
        # A fault armed for the export stays armed: the bad call never reached C.
        testing.fail_next("HcnReserveGuestNetworkServicePort", E_FAIL)
        with pytest.raises(error):
            await gns.reserve_port(*args)
        with pytest.raises(HcsError) as info:
            await gns.reserve_port("udp", hg.PortAccess.SHARED, 5353)
        assert info.value.hresult == 0x80004005
        assert _reservations() == 0
        await gns.delete()


@pytest.mark.parametrize(
    ("count", "error"),
    [(0, InvalidArgumentError), (65536, InvalidArgumentError), (2.5, InvalidArgumentTypeError)],
)
async def test_reserve_range_bad_input_before_c(count: Any, error: type) -> None:
    async with await hg.create_guest_network_service() as gns:
        testing.fail_next("HcnReserveGuestNetworkServicePortRange", E_FAIL)
        with pytest.raises(error):
            await gns.reserve_port_range(count)
        with pytest.raises(HcsError):
            await gns.reserve_port_range(1)
        await gns.delete()


async def test_a_range_larger_than_the_dynamic_ports_says_so() -> None:
    async with await hg.create_guest_network_service() as gns:
        with pytest.raises(HcsError) as info:
            await gns.reserve_port_range(40000)
        assert info.value.name == "E_INVALIDARG"
        assert "range of 40000 ports" in str(info.value)
        assert "dynamic port range" in str(info.value)
        assert info.value.subject == f"guest network service {gns.id}"
        testing.fail_next("HcnReserveGuestNetworkServicePortRange", E_FAIL)
        with pytest.raises(HcsError) as other:  # (another failure is left as it is)
            await gns.reserve_port_range(4)
        assert "dynamic port range" not in str(other.value)
        await gns.delete()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"id": "not-a-guid"}, InvalidArgumentError),
        ({"id": 5}, InvalidArgumentTypeError),
        ({"settings": "[1]"}, InvalidDocumentError),
        ({"settings": "{"}, InvalidDocumentError),
        ({"settings": 5}, InvalidArgumentTypeError),
    ],
)
async def test_create_bad_input_before_c(kwargs: dict[str, Any], error: type) -> None:
    testing.fail_next("HcnCreateGuestNetworkService", E_FAIL)
    with pytest.raises(error):
        await hg.create_guest_network_service(**kwargs)
    with pytest.raises(HcsError):
        await hg.create_guest_network_service()
    with pytest.raises(InvalidArgumentError):
        await hg.delete_guest_network_service("nope")


async def test_enumerate_failure_is_typed_and_frees() -> None:
    testing.fail_next("HcnEnumerateGuestNetworkPortReservations", E_ACCESSDENIED)
    with pytest.raises(HcsError) as info:
        await hg.enumerate_port_reservations()
    assert "HcnEnumerateGuestNetworkPortReservations" in str(info.value)
    assert await hg.enumerate_port_reservations() == []


async def test_hidden_export_needs_release() -> None:
    with testing.hide_export("HcnReserveGuestNetworkServicePortRange"):
        async with await hg.create_guest_network_service() as gns:
            with pytest.raises(UnsupportedOnThisHost):
                await gns.reserve_port_range(4)
            await gns.delete()


async def test_cancelled_reserve_leaves_nothing() -> None:
    async with await hg.create_guest_network_service() as gns:
        baseline = testing.counts()  # (the service's handle is open)
        for delay in [0, 1e-5, 1e-4, 5e-4, 2e-3] * 4:
            with anyio.move_on_after(delay):
                r = await gns.reserve_port_range(4)
                await r.release()
        await testing.assert_no_leaks_async(settle=2, baseline=baseline)
        assert _reservations() == 0
        assert await hg.enumerate_port_reservations() == []
        await gns.delete()


async def test_cancelled_release_still_releases() -> None:
    async with await hg.create_guest_network_service() as gns:
        r = await gns.reserve_port("tcp", "exclusive", 18081)
        with anyio.CancelScope() as scope:
            scope.cancel()
            await r.release()
        assert r.released
        assert _reservations() == 0
        await gns.delete()


async def test_unclosed_objects_warn_and_are_released() -> None:
    gns = await hg.create_guest_network_service()
    ident = gns.id
    r = await gns.reserve_port("both", "shared", 18082)
    with pytest.warns(ResourceWarning, match="port reservation 18082"):
        del r
    with pytest.warns(ResourceWarning, match=f"guest network service {ident} was never closed"):
        del gns
    gc.collect()
    await testing.assert_no_leaks_async(settle=2)
    await hg.delete_guest_network_service(ident)


async def test_service_notifications_end_with_close() -> None:
    gns = await hg.create_guest_network_service()
    events = gns.notifications()
    async with events:
        assert _registered(events)
        assert testing.counts().network_callbacks == 1
        await gns.aclose()  # ends (and unregisters) the stream
        assert not _registered(events)
        assert [n async for n in events] == []
    assert testing.counts().network_callbacks == 0
    await hg.delete_guest_network_service(gns.id)


async def test_port_range_entry_is_frozen() -> None:
    entry = hg.PortRangeEntry(GNS, GNS, hg.PortProtocol.UDP, 0, 0, 0, 0, 1, 2)
    with pytest.raises(AttributeError):
        entry.starting_port = 5  # type: ignore[misc]
    await anyio.lowlevel.checkpoint()


async def test_service_notifications_of_a_modify() -> None:
    from aiohcs import _hcn_notify as hn

    async with await hg.create_guest_network_service() as gns, gns.notifications() as events:
        await gns.modify({"State": "Running"})
        await gns.modify('{"Other": 1}')
        with anyio.fail_after(10):
            first = await events.__anext__()
            second = await events.__anext__()
        assert isinstance(first, hn.GuestNetworkServiceStateChanged)
        assert first.id == gns.id
        assert first.state == "Running"
        assert isinstance(second, hn.GuestNetworkServiceStateChanged)
        assert second.state is None
        await gns.delete()
    assert testing.counts().network_callbacks == 0


async def test_properties_is_not_available() -> None:
    async with await hg.create_guest_network_service() as gns:
        with pytest.raises(NotImplementedError, match="exports no HcnQueryGuest") as info:
            await gns.properties()
        assert not isinstance(info.value, TypeError)
        assert str(gns.id) in str(info.value)
        assert not gns.closed  # (nothing was called: the service is still usable)
        await gns.delete()


async def test_port_conflicts_are_typed() -> None:
    from aiohcs.errors import AlreadyExists

    async with (
        await hg.create_guest_network_service() as a,
        await hg.create_guest_network_service() as b,
    ):
        async with await a.reserve_port("tcp", "exclusive", 18090):
            with pytest.raises(AlreadyExists) as info:
                await b.reserve_port("tcp", "shared", 18090)
            assert "HcnReserveGuestNetworkServicePort" in str(info.value)
            assert str(b.id) in str(info.value)
            async with await b.reserve_port("udp", "exclusive", 18090) as udp:
                assert udp.protocol is hg.PortProtocol.UDP
        assert _reservations() == 0
        await a.delete()
        await b.delete()


async def test_unclosed_service_stream_warns_and_unregisters() -> None:
    async with await hg.create_guest_network_service() as gns:
        stream = gns.notifications()
        await stream.__aenter__()
        assert testing.counts().network_callbacks == 1
        with pytest.warns(ResourceWarning, match="notification stream"):
            del stream
        with anyio.fail_after(5):
            while testing.counts().network_callbacks:
                await anyio.sleep(0.01)
        await gns.delete()
