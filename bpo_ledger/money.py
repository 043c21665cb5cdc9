"""Money: Decimal amounts with a 3-letter ISO 4217 currency code. Never floats."""

from decimal import Decimal

from django.core.exceptions import ValidationError

# ISO 4217 active currency codes (funds and precious metals left out).
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
    RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR
    ZMW ZWG
    """.split()
)

CENT = Decimal("0.01")
MONEY_MAX_DIGITS = 18
MONEY_DECIMAL_PLACES = 2


def validate_currency(value: str) -> None:
    if value not in ISO_4217:
        raise ValidationError(
            "%(value)s is not an ISO 4217 currency code (three capital letters, e.g. USD).",
            params={"value": value},
            code="invalid_currency",
        )


def format_amount(amount, *, grouping: bool = True) -> str:
    """An amount to the cent: "1,234.50" for people, "1234.50" (grouping=False) for files."""
    if amount is None:
        return ""
    amount = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
    return f"{amount:,.2f}" if grouping else f"{amount:.2f}"


def format_money(amount, currency: str = "") -> str:
    """The one way money is written for people (pages, emails, charts, logs): "USD 1,234.50"."""
    if amount is None:
        return ""
    return f"{currency} {format_amount(amount)}".strip()
