"""What the CLI prints of other parties' strings."""

from __future__ import annotations

from registry.views import printable


def test_printable_escapes_control_characters_and_keeps_text() -> None:
    forged = "gateway said: \x1b[2K\r\x1b[32mALL VERIFIED\x1b[0m\nok é"

    shown = printable(forged)

    assert "\x1b" not in shown and "\r" not in shown and "\n" not in shown
    assert shown == "gateway said: \\x1b[2K\\r\\x1b[32mALL VERIFIED\\x1b[0m\\nok é"
