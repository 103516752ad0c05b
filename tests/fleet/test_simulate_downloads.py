"""The devices' download session reads the environment's proxy and CA settings once per host, and reads
what requests itself would."""

from __future__ import annotations

import pytest
import requests
import requests.sessions

from iotfleet.fleet.simulate.artifacts import DownloadSession

S3 = "https://fleet-bucket.s3.eu-west-1.amazonaws.com/firmware.bin?X-Amz-Signature=abc"
LOCAL = "http://localhost:4567/fleet-bucket/firmware.bin?X-Amz-Signature=abc"


def test_the_environment_is_read_once_per_host_and_as_requests_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "localhost")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/fleet-ca.pem")
    reads: list[str] = []
    real = requests.sessions.get_environ_proxies

    def counted(url: str, no_proxy: str | None = None) -> dict[str, str]:
        reads.append(url)
        return real(url, no_proxy=no_proxy)

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", counted)
    session = DownloadSession()
    plain = requests.Session()
    for url in (S3, S3.replace("abc", "def"), LOCAL, LOCAL):
        assert session.merge_environment_settings(url, {}, True, None, None) == plain.merge_environment_settings(
            url, {}, True, None, None
        )
    assert len(reads) == 2 + 4  # this session: once for each of the two hosts; the plain one: every time
    proxied = session.merge_environment_settings(S3, {}, True, None, None)
    assert proxied["proxies"]["https"] == "http://proxy.example:3128" and proxied["verify"] == "/etc/ssl/fleet-ca.pem"
    assert "https" not in session.merge_environment_settings(LOCAL, {}, True, None, None)["proxies"]  # NO_PROXY
    proxied["proxies"]["https"] = "changed by a caller"
    assert session.merge_environment_settings(S3, {}, True, None, None)["proxies"]["https"] != "changed by a caller"
