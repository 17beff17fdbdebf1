"""The two providers, through their official packages only: SendGrid (`sendgrid`, dynamic templates) for e-mail,
Twilio (`twilio`) for SMS and WhatsApp. Locally both are pointed at the recording stand-in
(scripts/provider_stand_in.py): SendGrid by its `host`, Twilio by an HTTP client that rewrites the origin (Twilio's
documented extension point). Every failure is classified: worth retrying (429, 5xx, a timeout or a dropped
connection) or permanent (a bad address, a refused request)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from python_http_client.exceptions import HTTPError as SendGridHTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Attachment as SGAttachment
from sendgrid.helpers.mail import CustomArg, From, Header, Mail, To
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client as TwilioClient

from rxcore.notify.failures import SendFailed
from rxcore.notify.types import Attachment

TIMEOUT = 10  # seconds; neither client has one by default


def _transient(status: int | None) -> bool:
    return status is None or status == 429 or status >= 500


@dataclass(frozen=True)
class EmailProvider:
    api_key: str
    host: str
    from_email: str
    from_name: str

    def send(self, to: str, name: str, template_id: str, data: dict[str, Any], delivery_id: str,
             attachments: list[Attachment], unsubscribe_url: str | None = None) -> str:  # fmt: skip
        mail = Mail(from_email=From(self.from_email, self.from_name), to_emails=To(to, name or None))
        mail.template_id = template_id
        mail.dynamic_template_data = data
        mail.custom_arg = CustomArg("delivery_id", delivery_id)  # comes back in Event Webhook events; no PII
        if unsubscribe_url:  # mail clients' own unsubscribe button, one click (RFC 8058)
            mail.header = Header("List-Unsubscribe", f"<{unsubscribe_url}>")
            mail.header = Header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
        for item in attachments:
            mail.add_attachment(SGAttachment(item.content_base64, item.filename, item.content_type, "attachment"))
        client = SendGridAPIClient(api_key=self.api_key, host=self.host)
        client.client.timeout = TIMEOUT
        try:
            response = client.send(mail)
        except SendGridHTTPError as exc:
            raise SendFailed(f"SendGrid answered {exc.status_code}", _transient(exc.status_code)) from None
        except OSError as exc:  # timeouts and dropped connections (urllib)
            raise SendFailed(f"SendGrid unreachable: {type(exc).__name__}", True) from None
        return (response.headers.get("X-Message-Id") or "") if response.headers else ""


class _LocalOrigin(TwilioHttpClient):
    """Sends Twilio's requests to another origin (the stand-in), path and query unchanged."""

    def __init__(self, base: str):
        super().__init__(timeout=TIMEOUT)
        self._base = urlsplit(base)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(url)
        local = urlunsplit((self._base.scheme, self._base.netloc, parts.path, parts.query, parts.fragment))
        return super().request(method, local, *args, **kwargs)


@dataclass(frozen=True)
class SmsProvider:
    account_sid: str
    auth_token: str
    from_number: str
    messaging_service_sid: str
    api_base: str  # empty for Twilio itself

    def send(self, to: str, body: str, whatsapp: bool = False, status_callback: str | None = None) -> str:
        http = _LocalOrigin(self.api_base) if self.api_base else TwilioHttpClient(timeout=TIMEOUT)
        client = TwilioClient(self.account_sid, self.auth_token, http_client=http)
        params: dict[str, Any] = {"to": f"whatsapp:{to}" if whatsapp else to, "body": body[:1600]}
        if status_callback:
            params["status_callback"] = status_callback
        if self.messaging_service_sid and not whatsapp:
            params["messaging_service_sid"] = self.messaging_service_sid
        else:
            params["from_"] = f"whatsapp:{self.from_number}" if whatsapp else self.from_number
        try:
            return client.messages.create(**params).sid
        except TwilioRestException as exc:
            raise SendFailed(f"Twilio answered {exc.status} (error {exc.code})", _transient(exc.status)) from None
        except OSError as exc:
            raise SendFailed(f"Twilio unreachable: {type(exc).__name__}", True) from None
