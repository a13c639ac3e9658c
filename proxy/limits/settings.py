"""The rate limiter's section of the settings (``Settings.limits``): counters and trusted proxies.

Per-tenant numbers live in the tenants file (:mod:`proxy.limits.config`); what is here is about
the deployment: a shared Redis when several workers or machines serve one site, and the reverse
proxies whose ``X-Forwarded-For`` may be trusted.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import NoDecode

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

UNIX = "unix"  # in PROXY_TRUSTED_PROXIES: connections without a peer address (a Unix socket)


def normalize_ip(ip: IPAddress) -> IPAddress:
    """IPv4-mapped IPv6 (``::ffff:1.2.3.4``) is the IPv4 address; dual-stack sockets report it so."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The reverse proxies allowed to tell us the client's address."""

    networks: tuple[IPNetwork, ...] = ()
    unix: bool = False

    @classmethod
    def parse(cls, value: str | Iterable[str] | TrustedProxies | None) -> TrustedProxies:
        """``"10.0.0.0/8, 192.0.2.7, ::1, unix"`` -> TrustedProxies; a bad entry raises ValueError."""
        if isinstance(value, TrustedProxies):
            return value
        if value is None:
            return cls()
        items = value.split(",") if isinstance(value, str) else list(value)
        networks: list[IPNetwork] = []
        unix = False
        for raw in items:
            item = str(raw).strip()
            if not item:
                continue
            if item.lower() == UNIX:
                unix = True
                continue
            try:
                network = ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR range (e.g. 10.0.0.0/8, ::1, unix)") from None
            if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
                mapped = network.network_address.ipv4_mapped
                if mapped is not None:  # ::ffff:10.0.0.0/104 -> 10.0.0.0/8
                    network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}", strict=False)
            networks.append(network)
        return cls(tuple(networks), unix)

    def __contains__(self, ip: object) -> bool:
        if ip is None:
            return self.unix
        if isinstance(ip, str):
            try:
                ip = ipaddress.ip_address(ip)
            except ValueError:
                return False
        if not isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        ip = normalize_ip(ip)
        version = ip.version
        # a plain loop: any() over a generator cost a third of the check
        for net in self.networks:  # noqa: SIM110
            if net.version == version and ip in net:
                return True
        return False

    def __bool__(self) -> bool:
        return bool(self.networks) or self.unix


class LimitSettings(BaseModel):
    """``Settings.limits``: where the rate limiter keeps its counters and whom it believes about IPs."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    enabled: bool = Field(
        True,
        validation_alias="PROXY_RATE_LIMITS",
        description="false: no limits at all (per tenant they are set in [tenants.NAME.limits]).",
    )
    redis_url: str | None = Field(
        None,
        validation_alias="REDIS_URL",
        description="Shared counters for several workers or machines; unset: in process memory.",
        examples=["redis://localhost:6379/0"],
    )
    trusted_proxies: Annotated[TrustedProxies, NoDecode] = Field(
        default_factory=TrustedProxies,
        validation_alias="PROXY_TRUSTED_PROXIES",
        description="Reverse proxies whose X-Forwarded-For is believed (IPs or CIDRs, comma-separated; "
        f'"{UNIX}" for a Unix-socket peer). From anyone else the header is ignored.',
        examples=["127.0.0.1,10.0.0.0/8"],
    )
    key_prefix: str = Field(
        "proxy:rl:", validation_alias="PROXY_RATE_LIMIT_PREFIX", description="Prefix of the counters' Redis keys."
    )
    ipv6_prefix: int = Field(
        64,
        ge=32,
        le=128,
        validation_alias="PROXY_RATE_LIMIT_IPV6_PREFIX",
        description="IPv6 clients are counted per network of this prefix length.",
    )
    fail_open: bool = Field(
        True,
        validation_alias="PROXY_RATE_LIMIT_FAIL_OPEN",
        description="When Redis cannot be reached: true lets requests through, false refuses them.",
    )
    redis_timeout: float = Field(
        0.5, gt=0, validation_alias="PROXY_REDIS_TIMEOUT", description="Seconds a counter update may take in Redis."
    )
    auth_failures_per_ip: int = Field(
        10,
        ge=0,
        validation_alias="PROXY_AUTH_FAILURES_PER_IP",
        description="Wrong client keys or metrics tokens from one address in 5 minutes before every request"
        " with a key from it gets 429 (the right key too) until the window passes; 0: no throttle.",
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_trusted(cls, value: Any) -> TrustedProxies:
        return TrustedProxies.parse(value)

    @field_validator("redis_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value
