"""``aiohcs network|endpoint|namespace ...``, run in-process through ``main(argv)``.

In-process, every invocation uses this test's hcsim, so later commands see the networks
earlier ones created (as they would with an hcsim service, or on Windows).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import cli as run
from helpers import cli_fails as fails
from helpers import cli_json as ok_json
from helpers import cli_ok as ok
from helpers import interrupt_child

from aiohcs.cli._network import cidr_prefix, guid, ip_address

NET = "11111111-1111-1111-1111-111111111111"
EP = "22222222-2222-2222-2222-222222222222"
NS = "33333333-3333-3333-3333-333333333333"
MISSING = "0f5a3e4c-8a4b-4f7e-9d2c-1b6e0a9d3c21"


@pytest.fixture(autouse=True)
def _shared_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process the objects outlive each command (the test's hcsim): no note about that."""
    from aiohcs.cli import _commands

    monkeypatch.setattr(_commands, "_on_own_emulator", lambda: False)


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _network(backend: str = "asyncio", *extra: str) -> str:
    return ok("--backend", backend, "network", "create", "n1", "--prefix", "10.0.0.0/24",
              "--id", NET, *extra)  # fmt: skip


def test_network_create_list_inspect_delete(backend: str) -> None:
    assert _network(backend) == f"{NET}  created (NAT network 'n1', 10.0.0.0/24)\n"
    assert ok("--backend", backend, "network", "list").splitlines() == [
        "ID                                    NAME  TYPE  SUBNETS",
        f"{NET}  n1    NAT   10.0.0.0/24",
    ]
    (doc,) = ok_json("network", "list")
    assert (doc["ID"], doc["Name"], doc["Type"]) == (NET, "n1", "NAT")
    subnet = doc["Ipams"][0]["Subnets"][0]
    assert subnet["Routes"][0]["NextHop"] == "10.0.0.1"
    # Any case, braces optional: the id is the network's.
    assert ok_json("network", "inspect", "{" + NET.upper() + "}") == doc
    text = ok("network", "inspect", NET)
    assert f"ID:            {NET}" in text.splitlines()
    assert "Name:          n1" in text.splitlines()
    assert ok("--backend", backend, "network", "delete", NET) == f"{NET}  deleted\n"
    assert ok_json("network", "list") == []
    assert ok("network", "list").splitlines() == ["ID  NAME  TYPE  SUBNETS"]


def test_network_create_options_and_json() -> None:
    doc = ok_json("network", "create", "ics", "--type", "ICS", "--prefix", "192.168.50.0/24",
                  "--gateway", "192.168.50.254")  # fmt: skip
    assert doc["Type"] == "ICS"
    assert doc["Name"] == "ics"
    route = doc["Ipams"][0]["Subnets"][0]["Routes"][0]
    assert route == {"NextHop": "192.168.50.254", "DestinationPrefix": "0.0.0.0/0"}
    # The default prefix of the common path.
    created = ok("network", "create", "nat")
    assert created.endswith("  created (NAT network 'nat', 172.30.0.0/16)\n")
    assert ok_json("network", "delete", doc["ID"]) == {"Action": "delete", "Network": doc["ID"]}


def test_endpoints(backend: str) -> None:
    _network()
    out = ok("--backend", backend, "endpoint", "create", "--network", NET, "--ip", "10.0.0.9",
             "--name", "web", "--id", EP)  # fmt: skip
    assert out == f"{EP}  created (10.0.0.9 on network {NET})\n"
    other = ok_json("--backend", backend, "endpoint", "create", "--network", NET)
    assert other["IpConfigurations"][0]["IpAddress"] == "10.0.0.2"  # the pool's first free
    assert other["HostComputeNetwork"] == NET
    rows = ok("endpoint", "list").splitlines()
    assert rows[0].split() == ["ID", "NAME", "NETWORK", "ADDRESS", "MAC"]
    assert rows[1].split()[:4] == [EP, "web", NET, "10.0.0.9"]
    assert rows[2].split()[:3] == [other["ID"], NET, "10.0.0.2"]
    assert [d["ID"] for d in ok_json("endpoint", "list", "--network", NET.upper())] == [
        EP,
        other["ID"],
    ]
    assert ok_json("endpoint", "list", "--network", MISSING) == []
    assert ok_json("endpoint", "inspect", EP)["Name"] == "web"
    assert "Name:               web" in ok("endpoint", "inspect", EP).splitlines()
    # A network with endpoints is in use.
    err = fails("network", "delete", NET)
    assert "HCN_E_ENTITY_HAS_REFERENCES" in err
    assert err.count("\n") == 1
    assert ok("endpoint", "delete", EP) == f"{EP}  deleted\n"
    assert ok_json("endpoint", "delete", other["ID"]) == {
        "Action": "delete",
        "Endpoint": other["ID"],
    }
    assert ok_json("endpoint", "list") == []
    ok("network", "delete", NET)


def test_namespaces(backend: str) -> None:
    _network()
    ok("endpoint", "create", "--network", NET, "--id", EP)
    assert ok("--backend", backend, "namespace", "create", "--id", NS) == f"{NS}  created\n"
    out = ok("--backend", backend, "namespace", "attach", NS, EP)
    assert out == f"{NS}  endpoint {EP} attached\n"
    assert ok("namespace", "list").splitlines()[1].split() == [NS, "Host", EP]
    doc = ok_json("namespace", "inspect", NS)
    assert doc["Resources"] == [{"Type": "Endpoint", "Data": {"ID": EP}}]
    assert ok_json("endpoint", "inspect", EP)["HostComputeNamespace"] == NS
    assert ok_json("namespace", "detach", NS, EP) == {
        "Action": "detach",
        "Namespace": NS,
        "Endpoint": EP,
    }
    assert ok("namespace", "list").splitlines()[1].split() == [NS, "Host", "-"]
    assert ok("namespace", "delete", NS) == f"{NS}  deleted\n"
    created = ok_json("namespace", "create")
    assert ok_json("namespace", "list") == [created]
    ok("namespace", "delete", created["ID"])
    ok("endpoint", "delete", EP)
    ok("network", "delete", NET)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["network", "inspect", "zz"], "argument ID: expected a GUID"),
        (["network", "delete", NET + "0"], "argument ID: expected a GUID"),
        (["network", "create", "n", "--prefix", "10.0.0.1/24"], "host bits set"),
        (["network", "create", "n", "--prefix", "10.0.0.0"], "expected a CIDR prefix"),
        (["network", "create", "n", "--prefix", "10.0.0.0/33"], "expected a CIDR prefix"),
        (["network", "create", "n", "--gateway", "10.0.0.300"], "expected an IP address"),
        (["network", "create", "n", "--type", "bridge"], "invalid choice: 'bridge'"),
        (["network", "create", "n", "--id", "{" + NET], "expected a GUID"),
        (["endpoint", "create"], "the following arguments are required: --network"),
        (["endpoint", "create", "--network", NET, "--ip", "x"], "expected an IP address"),
        (["endpoint", "list", "--network", "x"], "expected a GUID"),
        (["namespace", "attach", NS, "nope"], "argument ENDPOINT: expected a GUID"),
        (["network", "watch", "--count", "0"], "must be at least 1"),
        (
            ["network", "create", "n", "--prefix", "10.80.0.0/24", "--gateway", "10.81.0.1"],
            "gateway 10.81.0.1 is not a host address of 10.80.0.0/24",
        ),
        (["network", "create", "n", "--prefix", "10.0.0.0/32"], "too small"),
        (["network", "create", "n", "--prefix", "10.0.0.0/31"], "too small"),
        (["network"], "the following arguments are required: ACTION"),
    ],
)
def test_bad_input_is_a_usage_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(*argv)
    assert (code, out) == (2, "")
    assert message in capsys.readouterr().err  # (argparse writes to sys.stderr)
    assert ok_json("network", "list") == []  # (nothing was sent)


@pytest.mark.parametrize("json_output", [False, True])
def test_create_without_a_service_says_the_object_ends_with_the_command(
    json_output: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiohcs.cli import _commands

    monkeypatch.setattr(_commands, "_on_own_emulator", lambda: True)
    extra = ["--json"] if json_output else []
    code, out, err = run("network", "create", "n1", "--id", NET, *extra)
    assert code == 0
    assert NET in out
    assert f"the network {NET} ends with it" in err
    assert "aiohcs hcsim serve" in err
    code, _, err = run("namespace", "create", "--id", NS, *extra)
    assert code == 0
    assert f"the namespace {NS} ends with it" in err
    monkeypatch.setattr(_commands, "_on_own_emulator", lambda: False)
    ok("namespace", "delete", NS)
    ok("network", "delete", NET)


def test_errors_from_hns_are_one_line_exit_1() -> None:
    def error(*argv: str) -> str:
        err = fails(*argv)
        assert err.startswith("aiohcs: error: ")
        assert err.count("\n") == 1, err
        return err

    assert "HCN_E_NETWORK_NOT_FOUND" in error("network", "inspect", MISSING)
    assert MISSING in error("network", "delete", MISSING)
    assert "HCN_E_ENDPOINT_NOT_FOUND" in error("endpoint", "inspect", MISSING)
    assert "HCN_E_NETWORK_NOT_FOUND" in error("endpoint", "create", "--network", MISSING)
    assert "ERROR_NOT_FOUND" in error("namespace", "inspect", MISSING)
    _network()
    assert "HCN_E_NETWORK_ALREADY_EXISTS" in error("network", "create", "again", "--id", NET)
    assert "10.0.9.9" in error("endpoint", "create", "--network", NET, "--ip", "10.0.9.9")
    ok("endpoint", "create", "--network", NET, "--id", EP, "--ip", "10.0.0.7")
    assert "10.0.0.7" in error("endpoint", "create", "--network", NET, "--ip", "10.0.0.7")
    ok("namespace", "create", "--id", NS)
    assert MISSING in error("namespace", "attach", NS, MISSING)
    assert "ERROR_NOT_FOUND" in error("namespace", "attach", MISSING, EP)
    ok("namespace", "delete", NS)
    ok("endpoint", "delete", EP)
    ok("network", "delete", NET)


@pytest.mark.parametrize("json_output", [False, True])
def test_create_reports_the_id_when_its_properties_fail(json_output: bool) -> None:
    """The network exists once the create returns: its id is printed before the error."""
    from aiohcs import testing
    from aiohcs.errors import HResult

    testing.fail_next("HcnQueryNetworkProperties", HResult.HCN_E_MANAGER_STOPPED)
    argv = ["network", "create", "n1", "--prefix", "10.0.0.0/24", "--id", NET]
    code, out, err = run(*argv, *(["--json"] if json_output else []))
    assert code == 1
    assert err.startswith("aiohcs: error: ")
    assert "HcnQueryNetworkProperties" in err
    if json_output:
        assert json.loads(out) == {"Action": "create", "Network": NET}
    else:
        assert out == f"{NET}  created; its properties failed\n"
    assert ok("network", "delete", NET) == f"{NET}  deleted\n"


def test_help_names_the_groups(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--help")[0] == 0
    text = capsys.readouterr().out  # (argparse prints help to sys.stdout)
    for name in ("network", "endpoint", "namespace"):
        assert f"    {name}" in text
    assert run("network", "--help")[0] == 0
    assert "watch" in capsys.readouterr().out


# ---------------------------------------------------------------- watch


def _script(tmp_path: Path, text: str, *extra: str) -> tuple[int, str, str]:
    path = tmp_path / "script.txt"
    path.write_text(text)
    return run(*extra, "script", str(path))


def test_watch_prints_each_notification(tmp_path: Path, backend: str) -> None:
    code, out, err = _script(
        tmp_path,
        "network watch --count 5 &\n"
        f"network create n1 --prefix 10.0.0.0/24 --id {NET}\n"
        f"endpoint create --network {NET} --id {EP}\n"
        f"endpoint delete {EP}\n"
        f"network delete {NET}\n"
        "wait\n",
        "--backend",
        backend,
    )
    assert (code, err) == (0, "")
    events = [line for line in out.splitlines() if "created" not in line and "deleted" not in line]
    assert events == [
        f"NetworkPreCreate  {NET}",
        f"NetworkCreated  {NET}",
        f"EndpointAttached  {EP}  network {NET}",
        f"EndpointDetached  {EP}  network {NET}",
        f"NetworkPreDelete  {NET}",
    ]


def test_watch_json_lines(tmp_path: Path) -> None:
    code, out, err = _script(
        tmp_path,
        "network watch --json -n 3 &\n"
        f"namespace create --id {NS}\n"
        f"namespace delete {NS}\n"
        f"network create n1 --prefix 10.0.0.0/24 --id {NET} --json\n"
        f"network delete {NET}\n"
        "wait\n",
    )
    assert (code, err) == (0, "")
    notes = [json.loads(line) for line in out.splitlines() if line.startswith('{"Notification"')]
    assert notes == [
        {"Notification": "NamespaceCreated", "Type": 5, "Status": "0x00000000", "Id": NS,
         "Data": {"ID": NS}},
        {"Notification": "NamespaceDeleted", "Type": 6, "Status": "0x00000000", "Id": NS,
         "Data": {"ID": NS}},
        {"Notification": "NetworkPreCreate", "Type": 1, "Status": "0x00000000", "Id": NET,
         "Data": {"ID": NET}},
    ]  # fmt: skip


def test_watch_timeout_with_nothing_to_print(backend: str) -> None:
    assert ok("--backend", backend, "network", "watch", "--timeout", "0.05") == ""


def test_watch_ends_with_an_error_when_the_service_disconnects(tmp_path: Path) -> None:
    code, out, err = _script(tmp_path, "network watch &\nsim disconnect\nwait\n")
    assert code == 1
    assert out.splitlines()[-1] == "ServiceDisconnected"
    assert "aiohcs: error: the HCN service disconnected: no more notifications\n" in err


@pytest.mark.posix_only("POSIX signals")
def test_watch_ctrl_c_exits_cleanly(tmp_path: Path) -> None:
    """Ctrl-C is how a watch ends: exit 130, one line on stderr, no traceback."""
    path = tmp_path / "s.txt"
    path.write_text(
        f"network watch &\nnetwork create n1 --prefix 10.0.0.0/24 --id {NET}\nsleep 60\n"
    )
    code, out, err = interrupt_child(
        "-m", "aiohcs", "script", str(path), after=f"NetworkCreated  {NET}"
    )
    assert code == 130
    assert out.startswith(f"NetworkPreCreate  {NET}\n")
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "aiohcs: interrupted"


# ---------------------------------------------------------------- value types


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (NET, NET),
        (NET.upper(), NET),
        ("{" + NET + "}", NET),
        (" " + NET + " ", NET),
    ],
)
def test_guid_accepts(text: str, value: str) -> None:
    assert guid(text) == value


@pytest.mark.parametrize("text", ["", "x", NET.replace("-", ""), "{" + NET, NET + "}", "{}"])
def test_guid_refuses(text: str) -> None:
    with pytest.raises(Exception, match="expected a GUID"):
        guid(text)


def test_prefix_and_address_types() -> None:
    assert cidr_prefix("10.1.0.0/16") == "10.1.0.0/16"
    assert cidr_prefix("fd00::/64") == "fd00::/64"
    assert ip_address("fd00::1") == "fd00::1"
    for bad in ("10.1.0.0", "10.1.0.1/16", "banana/8"):
        with pytest.raises(Exception, match="expected a CIDR prefix"):
            cidr_prefix(bad)
