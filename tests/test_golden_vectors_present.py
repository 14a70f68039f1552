"""The golden vectors in ../shared are part of every run: their absence fails, it never skips.

CI always has ../shared beside the clone; a missing directory means a broken checkout, and a suite that
quietly skips the byte-for-byte tests would pass while proving nothing about the real DCC encodings.
"""

from __future__ import annotations

from pathlib import Path

from conftest import REAL_CERTS


def test_real_dcc_certificates_are_present(real_certs: Path) -> None:
    index = (real_certs / "index.csv").read_text(encoding="utf-8").splitlines()
    pems = list(real_certs.glob("*/*.pem"))
    assert len(index) > 400, f"{real_certs}/index.csv lists {len(index)} lines; the set has 461 items"
    assert len(pems) > 400, f"only {len(pems)} PEM files under {real_certs}"


def test_gbcs_rtds_messages_are_present() -> None:
    rtds = REAL_CERTS.parent / "gbcs-rtds"
    hex_files = list(rtds.glob("*.HEX"))
    assert hex_files, f"no GBCS RTDS message (*.HEX) under {rtds}: ../shared/gbcs-rtds is missing"
