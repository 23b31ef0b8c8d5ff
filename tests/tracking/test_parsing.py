from __future__ import annotations

import pytest

from ingest.parsing import InvalidReport, clean_address, symbols_report
from tracking.mime import parse_message


def test_an_unknown_charset_and_8bit_headers_do_not_break_parsing():
    raw = (
        b"From: =?x-unknown-9?B?w6k=?= <a@b.fr>\r\nSubject: Caf\xe9 cr\xe8me \xff\r\n"
        b"Content-Type: text/plain; charset=x-klingon\r\n\r\n\xe9\xe8\r\n"
    )

    _msg, headers = parse_message(raw)

    assert headers.subject.startswith("Caf")


def test_broken_mime_is_tolerated():
    raw = (
        b'Subject: multipart\r\nContent-Type: multipart/mixed; boundary="zz"\r\n\r\n'
        b"--zz\r\nContent-Type: text/html\r\n\r\n<p>unterminated"
    )

    msg, headers = parse_message(raw, headers_only=False)

    assert headers.subject == "multipart"
    assert msg.defects or any(part.defects for part in msg.walk())


def test_encoded_words_are_decoded():
    raw = b"Subject: =?utf-8?q?Offerta_-50=25_=E2=82=AC?=\r\nMessage-ID: <id@x>\r\n\r\nx"

    _msg, headers = parse_message(raw)

    assert (headers.subject, headers.message_id) == ("Offerta -50% €", "<id@x>")


@pytest.mark.parametrize(
    "header",
    ["X-PHP-Originating-Script: 1000:mailer.php", "X-Mailer: PHPMailer 6.9.1"],
)
def test_website_scripts_are_recognised(header):
    _msg, headers = parse_message(f"{header}\r\nSubject: s\r\n\r\nx".encode())

    assert headers.script


def test_rspamd_unknown_means_absent_and_bad_addresses_are_refused():
    assert clean_address("unknown", field="from") == ""
    assert clean_address("<Box@Example.FR>", field="from") == "box@example.fr"
    with pytest.raises(InvalidReport, match="from is missing"):
        clean_address("", field="from", required=True)
    with pytest.raises(InvalidReport, match="not an address"):
        clean_address("a b@c", field="from")


def test_symbols_from_checkv2_and_from_the_exporter_normalise_alike():
    checkv2 = {"A": {"name": "A", "score": 1.5, "description": "d", "options": ["o"]}}
    exporter = [{"name": "A", "score": 1.5, "description": "d", "options": ["o"]}]

    assert symbols_report(checkv2) == symbols_report(exporter)
