"""Every process-wide setting, read once from the environment and `.env` into one :class:`Settings`.

The root holds what the service itself needs, in groups of one concern each (``tenants``,
``providers``, ``database``, ``turns``, ``serving``: a module per group, combined in ``model``);
the rate limiter, mail and retention each have a section (``settings.limits``, ``settings.mail``,
``settings.retention``) declared next to the code that uses it. Every field is documented where
it is declared and read under the environment names deployments already use (the old NestJS
names included): a field's ``validation_alias`` lists them, the first being the documented one;
``sources`` reads the sections' fields under those flat names. ``.env.sample`` is generated from
these declarations (``sample``: ``python -m proxy settings sample``).

Tenants are not configured here but in the tenants file (``PROXY_TENANTS_FILE``) or, for
existing deployments, in the old parallel JSON arrays (``DOMAINS``, ``OPENAI_API_KEYS``,
``ASSISTANT_IDS``, ``EMAIL_TO``), which :class:`Settings` reads so that ``proxy.tenants`` can turn
them into tenants.
"""

from proxy.settings.model import Settings
from proxy.settings.sources import env_names, section_model
from proxy.settings.tenants import EngineName

# The public face: the names other packages import, and the sample writer's module.
__all__ = ("EngineName", "Settings", "env_names", "sample", "section_model")
