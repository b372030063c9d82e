"""E-mail through the configured SMTP server, shared by alerts and the weekly report.

The standard library's :mod:`smtplib` and :mod:`email.message` cover everything needed (STARTTLS
or implicit TLS with certificate checks, login, HTML with a plain-text alternative,
attachments); a wrapper library would add a dependency and nothing else.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from kommo_analytics.errors import ConfigError, DeliveryError
from kommo_analytics.settings import Settings

TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime: str = "application/pdf"


def configuration_error(settings: Settings) -> ConfigError | None:
    """None when e-mail can be sent, else what is missing."""
    missing = [
        name
        for name, value in (("SMTP_HOST", settings.smtp_host), ("SMTP_FROM", settings.smtp_from))
        if not value
    ]
    if missing:
        return ConfigError(
            f"e-mail is not configured: {', '.join(missing)} not set",
            hint="set SMTP_HOST, SMTP_FROM (and SMTP_USERNAME/SMTP_PASSWORD if your server "
            "asks for them) in .env; see .env.example",
        )
    if settings.smtp_password is not None and not settings.smtp_username:
        return ConfigError(
            "SMTP_PASSWORD is set but SMTP_USERNAME is not",
            hint="set SMTP_USERNAME to the account the password belongs to",
        )
    return None


def build_message(
    settings: Settings,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Sequence[Attachment] = (),
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from or ""
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=(settings.smtp_from or "x@localhost").split("@")[-1])
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for item in attachments:
        maintype, _, subtype = item.mime.partition("/")
        message.add_attachment(
            item.content, maintype=maintype, subtype=subtype, filename=item.filename
        )
    return message


def send_mail(
    settings: Settings,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Sequence[Attachment] = (),
) -> None:
    """Send one message to ``to``; raises :class:`DeliveryError` naming the server's answer."""
    problem = configuration_error(settings)
    if problem is not None:
        raise problem
    if not to:
        raise ConfigError(
            "no e-mail recipients are configured",
            hint="set ALERT_EMAILS (and REPORT_EMAILS for the weekly report) in .env",
        )
    message = build_message(settings, to, subject, text, html, attachments)
    host, port = settings.smtp_host or "", settings.resolved_smtp_port
    where = f"{host}:{port}"
    context = ssl.create_default_context()
    try:
        smtp: smtplib.SMTP
        if settings.smtp_security == "tls":
            smtp = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_SECONDS, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS)
        with smtp:
            if settings.smtp_security == "starttls":
                smtp.starttls(context=context)
            if settings.smtp_username:
                password = (
                    settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                )
                smtp.login(settings.smtp_username, password)
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(
            f"the mail server {where} refused the login ({exc.smtp_code})",
            hint="check SMTP_USERNAME and SMTP_PASSWORD (many providers want an app password)",
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise DeliveryError(
            f"the mail server {where} does not offer STARTTLS",
            hint="set SMTP_SECURITY=tls (usually port 465), or none only on a trusted network",
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(
            f"the mail server {where} refused the recipients {', '.join(exc.recipients)}",
            hint="check ALERT_EMAILS / REPORT_EMAILS",
        ) from None
    except smtplib.SMTPException as exc:
        raise DeliveryError(
            f"sending e-mail through {where} failed: {exc}",
            hint="check SMTP_HOST, SMTP_PORT and SMTP_SECURITY against your provider's settings",
        ) from None
    except ssl.SSLError as exc:
        raise DeliveryError(
            f"the TLS connection to the mail server {where} failed: {exc.reason}",
            hint="check SMTP_SECURITY (starttls on 587, tls on 465) and the server's certificate",
        ) from None
    except OSError as exc:
        raise DeliveryError(
            f"cannot reach the mail server {where}: {exc.strerror or exc}",
            hint="check SMTP_HOST and SMTP_PORT, and that this machine may connect out on it",
        ) from None
