"""Each function's settings: one typed object, read from the environment when an execution starts (inside
`main()`, never at import, so a variable changed in the console counts from the next execution).

Naming: our own settings are `RX_<NAME>`; a provider's credentials keep the provider's name (`TRUD_API_KEY`,
`STRIPE_SECRET_KEY`); Appwrite's own (`APPWRITE_FUNCTION_*`) are Appwrite's. A few settings were first read under
other names; those names are still accepted (listed in `validation_alias`) and documented as deprecated in
docs/functions.md."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError

from rxcore.errors import NotConfigured

S = TypeVar("S", bound="Settings")


def env_field(default: Any, *names: str, **constraints: Any) -> Any:
    """A setting read from the first of `names` that is set."""
    return Field(default, validation_alias=AliasChoices(*names), **constraints)


class Settings(BaseModel):
    """What every function reads."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    database_id: str = env_field("main", "RX_DATABASE_ID")
    function_id: str | None = env_field(None, "APPWRITE_FUNCTION_ID")

    @classmethod
    def from_env(cls: type[S], env: Mapping[str, str]) -> S:
        try:
            return cls.model_validate(dict(env))
        except ValidationError as exc:
            names = ", ".join(str(e["loc"][0]) for e in exc.errors())
            raise NotConfigured("function_misconfigured", f"The function's settings are invalid: {names}.") from None


class PrescribingSettings(Settings):
    # Seals prescribers' signing keys: keep it; a new one makes existing keys unusable.
    practitioner_key_secret: SecretStr = env_field("", "RX_PRACTITIONER_KEY_SECRET", "PRACTITIONER_KEY_SECRET")
    pdf_bucket_id: str = env_field("prescription_pdfs", "RX_PDF_BUCKET_ID")


class PortalSettings(Settings):
    portal_token_secret: SecretStr = env_field("", "RX_PORTAL_TOKEN_SECRET", "PORTAL_TOKEN_SECRET")


class ImportSettings(Settings):
    import_bucket_id: str = env_field("patient_imports", "RX_IMPORT_BUCKET_ID", "IMPORT_BUCKET_ID")
    report_bucket_id: str = env_field("import_reports", "RX_IMPORT_REPORT_BUCKET_ID", "IMPORT_REPORT_BUCKET_ID")


class SupplierSettings(Settings):
    list_bucket_id: str = env_field("supplier_lists", "RX_SUPPLIER_LIST_BUCKET_ID")


class DmdSettings(Settings):
    database_id: str = env_field("main", "RX_DATABASE_ID", "DMD_DATABASE_ID")
    write_concurrency: int = env_field(4, "RX_DMD_WRITE_CONCURRENCY", "DMD_WRITE_CONCURRENCY", ge=1, le=16)
    trud_api_key: SecretStr = env_field("", "TRUD_API_KEY")
    trud_api_base_url: str = env_field("https://isd.digital.nhs.uk", "TRUD_API_BASE_URL")


class NotifySettings(Settings):
    sendgrid_api_key: SecretStr = env_field("", "SENDGRID_API_KEY")
    # Empty for SendGrid itself; the stand-in's URL locally (scripts/provider_stand_in.py).
    sendgrid_api_host: str = env_field("https://api.sendgrid.com", "SENDGRID_API_HOST")
    from_email: str = env_field("no-reply@rx.example", "RX_NOTIFY_FROM_EMAIL")
    from_name: str = env_field("Rx Platform", "RX_NOTIFY_FROM_NAME")
    # {"prescription.ready": "d-…", …}: a SendGrid dynamic template per notification type (configuration, not code).
    email_templates: str = env_field("{}", "RX_NOTIFY_EMAIL_TEMPLATES")
    twilio_account_sid: str = env_field("", "TWILIO_ACCOUNT_SID")
    twilio_auth_token: SecretStr = env_field("", "TWILIO_AUTH_TOKEN")
    twilio_from_number: str = env_field("", "TWILIO_FROM_NUMBER")
    twilio_messaging_service_sid: str = env_field("", "TWILIO_MESSAGING_SERVICE_SID")
    twilio_api_base: str = env_field("", "TWILIO_API_BASE")  # empty for Twilio; the stand-in locally
    # The function's public URL (its domain), which providers call back: Twilio signs over the exact URL it called.
    public_url: str = env_field("", "RX_NOTIFY_PUBLIC_URL")
    # SendGrid's Event Webhook verification key (base64 DER, shown when signing is turned on).
    sendgrid_webhook_public_key: SecretStr = env_field("", "SENDGRID_WEBHOOK_PUBLIC_KEY")
    # Signs the unsubscribe links in e-mails (no links without it, or without RX_NOTIFY_PUBLIC_URL).
    link_secret: SecretStr = env_field("", "RX_NOTIFY_LINK_SECRET")
    pdf_bucket_id: str = env_field("prescription_pdfs", "RX_PDF_BUCKET_ID")
    # SMS + WhatsApp messages a clinic may send per UTC day (0: no cap); past it, texts are suppressed that day.
    sms_daily_limit: int = env_field(0, "RX_NOTIFY_SMS_DAILY_LIMIT", ge=0)
    # The most a clinic may spend on SMS + WhatsApp per UTC day, in the Twilio account's currency ("0": no cap);
    # past it, texts are suppressed that day (e-mail still goes). Prices: RX_NOTIFY_TEXT_PRICES (rxcore.notify.pricing).
    daily_spend_cap: Decimal = env_field(Decimal(0), "RX_NOTIFY_DAILY_SPEND_CAP", ge=0)
    text_prices: str = env_field("{}", "RX_NOTIFY_TEXT_PRICES")
    # Requests per second to each provider, across every worker (SendGrid and Twilio both answer 429 past theirs).
    provider_rate: int = env_field(100, "RX_NOTIFY_PROVIDER_RATE", ge=1)


class WalletSettings(Settings):
    # The most a clinic's admins may let their shared pool go below zero (0: no overdrafts on this platform).
    max_overdraft: int = env_field(0, "RX_WALLET_MAX_OVERDRAFT", ge=0)


class BillingSettings(Settings):
    stripe_secret_key: SecretStr = env_field("", "STRIPE_SECRET_KEY")
    # Checks the signature of every webhook delivery; Stripe shows it once when the endpoint is created.
    stripe_webhook_secret: SecretStr = env_field("", "STRIPE_WEBHOOK_SECRET")
    # Empty for Stripe itself; a local stand-in (localstripe) otherwise. Never set in production.
    stripe_api_base: str = env_field("", "STRIPE_API_BASE")
    seller_name: str = env_field("Rx Platform", "RX_BILLING_SELLER_NAME")
    # Prices are tax-inclusive; a receipt shows the tax they include only when both of these are set.
    tax_name: str = env_field("", "RX_BILLING_TAX_NAME")
    tax_rate_percent: Decimal | None = env_field(None, "RX_BILLING_TAX_RATE_PERCENT", ge=0, le=100)
