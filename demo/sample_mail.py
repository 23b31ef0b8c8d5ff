"""Realistic outbound messages (ham and spam, it/fr/en) with Rspamd-shaped reports.

Used by the demo (`manage.py demo_load`) and the benchmarks; never by ingestion.
The symbol names, descriptions and options are those Rspamd 3.x reports.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

HAM_SYMBOLS = {
    "MIME_GOOD": (-0.1, "Known content-type", ["multipart/alternative", "text/plain"]),
    "BAYES_HAM": (-3.0, "Message probably ham, probability: ", ["99.99%"]),
    "DKIM_SIGNED": (0.0, "Message has a DKIM or ARC signature", []),
    "FROM_HAS_DN": (0.0, "From header has a display name", []),
    "FROM_EQ_ENVFROM": (0.0, "From address is the same as the envelope", []),
    "MID_RHS_MATCH_FROM": (0.0, "Message-ID RHS matches From domain", []),
    "RCVD_COUNT_ZERO": (0.0, "Message has no Received headers", ["0"]),
    "TO_MATCH_ENVRCPT_ALL": (0.0, "All of the recipients match the envelope", []),
    "ARC_NA": (0.0, "ARC signature absent", []),
    "MIME_TRACE": (0.0, "", ["0:+", "1:+", "2:~"]),
    "RCPT_COUNT_ONE": (0.0, "One recipient", ["1"]),
    "TO_DN_NONE": (0.0, "None of the recipients have display names", []),
}
SPAM_SYMBOLS = {
    "BAYES_SPAM": (5.1, "Message probably spam, probability: ", ["98.12%"]),
    "SUBJ_ALL_CAPS": (3.0, "Subject contains mostly capital letters", ["21"]),
    "R_SUSPICIOUS_URL": (5.5, "Obfuscated URL found in message", ["bit.ly"]),
    "MIME_HTML_ONLY": (0.2, "Message has only an HTML part", []),
    "HAS_PHPMAILER_SIG": (0.0, "PHPMailer signature is found in the mail", []),
    "FORGED_SENDER": (0.3, "Sender is forged (different From: header and smtp MAIL FROM)", []),
    "ZERO_FONT": (1.0, "Zero sized font used", ["2"]),
    "MANY_INVISIBLE_PARTS": (0.3, "Many parts are visually hidden", ["3"]),
    "RCPT_COUNT_GT_50": (2.0, "More than 50 recipients", ["74"]),
    "LWS_SUBJ_PROMO": (2.5, "Promotional wording in the subject", ["promo"]),
    "LWS_SUBJ_URGENT": (2.0, "Urgency wording in the subject", ["urgent"]),
}

# By the language of the sender's domain (.fr, .it, else English): a French bakery writes
# in French. Spam from a hijacked mailbox is in any language.
HAM_SUBJECTS = {
    "fr": [
        "Votre commande n°{n} est prête",
        "Devis pour le traiteur du {d}",
        "Horaires de Noël de la boulangerie",
        "Confirmation de votre réservation du {d}",
    ],
    "it": [
        "Conferma prenotazione tavolo per {d}",
        "Articolo in bozza: {n} cose da vedere a Lisbona",
        "Newsletter di dicembre",
        "Il vostro ordine n. {n} è pronto",
    ],
    "en": ["Invoice {n} for November", "Re: delivery on {d}", "Meeting notes, {d}"],
}
SPAM_SUBJECTS = [
    "URGENT: your bank account is suspended",
    "Offre exclusive -50% sur tout, gagnez un iPhone",
    "Vinci subito un buono da 500€! Offerta gratuita",
    "FREE PROMO - claim your prize now",
    "Votre colis est en attente, payez 1,99 € de frais",
    "Aggiorna i dati della tua banca entro 24 ore",
]
# A spam sign chosen leaves out the ham sign it contradicts.
CONTRADICTS = {
    "BAYES_SPAM": "BAYES_HAM",
    "RCPT_COUNT_GT_50": "RCPT_COUNT_ONE",
    "MIME_HTML_ONLY": "MIME_GOOD",
    "FORGED_SENDER": "FROM_EQ_ENVFROM",
}
RECIPIENTS = [
    "client{n}@gmail.com",
    "contact@{n}-events.fr",
    "mario.rossi{n}@libero.it",
    "orders{n}@example-supplier.com",
    "j.dupont{n}@orange.fr",
]


@dataclass(frozen=True)
class SampleMessage:
    raw: bytes
    subject: str
    recipients: list[str]
    score: float
    action: str
    symbols: dict[str, dict]
    message_id: str


def _report(rng: random.Random, spam: bool) -> tuple[float, dict[str, dict]]:
    names = rng.sample(sorted(HAM_SYMBOLS), 6)
    if spam:
        names += rng.sample(sorted(SPAM_SYMBOLS), rng.randint(3, 5))
    table = {**HAM_SYMBOLS, **SPAM_SYMBOLS}
    symbols = {
        name: {
            "name": name,
            "score": table[name][0],
            "metric_score": table[name][0],
            "description": table[name][1],
            "options": table[name][2],
        }
        for name in names
    }
    for sign, contradicted in CONTRADICTS.items():
        if sign in symbols:
            symbols.pop(contradicted, None)
    score = round(sum(s["score"] for s in symbols.values()) + rng.uniform(-0.5, 0.5), 2)
    if spam:
        score = max(score, round(rng.uniform(8.3, 14.0), 2))
    else:
        score = min(score, round(rng.uniform(-2.0, 5.5), 2))
    return score, symbols


def sample_message(
    rng: random.Random, *, sender: str, spam: bool, when, size_hint: int | None = None
) -> SampleMessage:
    """One plausible message from `sender` with the report Rspamd would give it."""
    n = rng.randint(100, 9999)
    tld = sender.rpartition(".")[2].lower()
    ham = HAM_SUBJECTS.get(tld, HAM_SUBJECTS["en"])
    subject = rng.choice(SPAM_SUBJECTS if spam else ham).format(n=n, d=f"{when:%d/%m}")
    count = rng.choice([1, 1, 1, 2, 3]) if not spam else rng.choice([1, 12, 40, 74])
    recipients = [rng.choice(RECIPIENTS).format(n=n + i) for i in range(count)]
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients[:3])
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    body = (
        "Bonjour,\n\nVeuillez trouver ci-dessous les informations demandées.\n"
        if not spam
        else "Cliquez ici pour réclamer votre cadeau : http://bit.ly/x\n"
    )
    filler = size_hint or rng.choice([600, 1500, 4000, 12000, 40000])
    body += ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * (filler // 56))[:filler]
    msg.set_content(body)
    html = f"<p>{body[:400]}</p>"
    if spam:
        html += (
            '<img src="http://tracker.example/p.gif" width="1" height="1">'
            '<span style="font-size:0">hidden</span><script>alert(1)</script>'
        )
    msg.add_alternative(html, subtype="html")
    score, symbols = _report(rng, spam)
    action = "reject" if score >= 15 else ("add header" if score >= 6 else "no action")
    return SampleMessage(
        raw=msg.as_bytes(),
        subject=subject,
        recipients=recipients,
        score=score,
        action=action,
        symbols=symbols,
        message_id=msg["Message-ID"],
    )
