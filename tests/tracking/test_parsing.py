from __future__ import annotations

import pytest

from ingest.parsing import InvalidReport, clean_address, json_header, symbols_report
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


def _registry_headers(raw: bytes) -> tuple[str, str, list[str], str]:
    """What the header registry reads for every header (the slow path, as reference)."""
    from email import policy
    from email.parser import BytesHeaderParser
    from email.utils import getaddresses

    from tracking.mime import text

    msg = BytesHeaderParser(policy=policy.default).parsebytes(raw)

    def header(name: str) -> str:
        return text(msg.get(name)) if name in msg else ""

    to = [a for _, a in getaddresses([header("To"), header("Cc")]) if a]
    subject = header("Subject").replace("\r", " ").replace("\n", " ")
    return subject, header("Message-ID"), to, header("X-Mailer")


def test_the_fast_header_path_reads_what_the_registry_reads():
    import random
    from datetime import UTC, datetime

    from demo.sample_mail import sample_message

    rng = random.Random(14)
    cases = [
        b"Subject: =?utf-8?q?Fattura_pronta_=C3=A8_qui?=\r\nTo: a@b.example\r\n\r\nx",
        "Subject: Facture prête\r\nTo: Éloïse <e@b.example>\r\n\r\nx".encode(),
        b"Subject: folded\r\n  over two lines\r\nMessage-ID: <m@x>\r\n"
        b"Cc: c@d.example,\r\n e@f.example\r\n\r\nx",
        b"Subject:\r\nX-Mailer: PHPMailer 6.9\r\n\r\nx",
        b"Subject: \xff\xfe broken\r\nTo: \x00weird@x.example\r\n\r\nx",
        b"Subject: lf only\nTo: lf@x.example\n\nSubject: in the body\n",
        b"Subject: cr only\rTo: cr@x.example\r\rTo: body@x.example\r",
        b"Subject: mixed\r\nTo: m@x.example\r\n\nTo: body@x.example\r\n",
        b"\r\nSubject: after an empty first line\r\n\r\nx",
        b"Subject: no body at all\r\nTo: nobody@x.example",
    ]
    cases += [
        sample_message(
            rng,
            sender=rng.choice(["box@shop.it", "box@boutique.fr", "box@shop.example"]),
            spam=rng.random() < 0.5,
            when=datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),
            size_hint=800,
        ).raw
        for _ in range(40)
    ]
    for raw in cases:
        _msg, headers = parse_message(raw)
        subject, message_id, to, _mailer = _registry_headers(raw)
        assert (headers.subject, headers.message_id, headers.to) == (subject, message_id, to), raw[
            :200
        ]


def nested(depth: int, inner: str = "1") -> str:
    return (
        '{"a": ' * (depth // 2)
        + "[" * (depth - depth // 2)
        + inner
        + "]" * (depth - depth // 2)
        + "}" * (depth // 2)
    )


@pytest.mark.parametrize("inner", ["1", "[]", "{}"])
def test_json_nested_32_deep_is_read_and_33_deep_refused(inner):
    extra = 0 if inner == "1" else 1  # an empty container is a level of its own
    json_header(nested(32 - extra, inner), field="X-Rspamd-rcpt", kind=object)

    with pytest.raises(InvalidReport, match="nested more than 32 levels"):
        json_header(nested(33 - extra, inner), field="X-Rspamd-rcpt", kind=object)


def test_json_too_deep_for_the_parser_itself_is_refused_in_one_line():
    with pytest.raises(InvalidReport, match="nested more than 32 levels"):
        json_header("[" * 100_000 + "]" * 100_000, field="X-Rspamd-symbols", kind=list)


def test_a_wide_report_with_many_brackets_but_shallow_is_read():
    wide = "[" + ",".join('{"name": "S", "options": [[1], [2]]}' for _ in range(200)) + "]"

    assert len(json_header(wide, field="X-Rspamd-symbols", kind=list)) == 200


def header_corpus() -> list[bytes]:
    """Header blocks in the shapes senders write: encoded words good and broken, raw
    8-bit text, folded and repeated headers, odd line ends, NULs, address lists."""
    import random

    from tests.tracking.test_ingest_fuzz import BODIES, TEXTS

    values = [t.encode("utf-8", "surrogatepass") for t in TEXTS] + [
        b"=?utf-8?q?Offerta_-50=25_=E2=82=AC?=",
        b"=?iso-8859-1?q?R=E9duction?= sur =?utf-8?b?Z2nDoA==?=",
        b"=?x-unknown-9?B?w6k=?=",
        b"=?utf-8?b?broken",
        b"=?utf-8?q?a=00b?=",
        "Réduction già".encode(),
        b"Caf\xe9 cr\xe8me \xff",
        b"folded\r\n  over\r\n\tlines",
        b'"Dupont, Marie" <marie@example.fr>, =?utf-8?q?Jos=C3=A9?= <j@example.it>',
        b"undisclosed-recipients:;",
        b"33:contact.php",
        b"by web1.example.net (Postfix, from userid 33)\r\n\tid 4NkQ2x0yZ",
        b"PHPMailer 6.9.1",
    ]
    names = [b"Subject", b"To", b"Cc", b"Message-ID", b"Received", b"X-PHP-Originating-Script"]
    names += [b"X-Mailer", b"X-Source", b"Content-Type", b"From", b"subject", b"TO"]
    rng = random.Random(20261201)
    blocks = list(BODIES)
    for _ in range(400):
        lines = [rng.choice(names) + b": " + rng.choice(values) for _ in range(rng.randint(1, 8))]
        end = rng.choice([b"\r\n", b"\n", b"\r"])
        blocks.append(end.join(lines) + end + end + b"body")
    return blocks


def test_recordings_cheap_header_read_says_what_the_full_parse_says():
    from tracking.mime import message_headers

    for raw in header_corpus():
        assert message_headers(raw) == parse_message(raw)[1], raw
        assert message_headers(raw).to == parse_message(raw)[1].to, raw
