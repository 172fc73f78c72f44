"""The one mapping table between On-Premise API v1 and the Cloud API.

Data only (plus tiny lookups). Translators, client, gateway, relay, codemods and
docs all read it from here; nothing else restates a mapping fact.
"""

from shim.mapping.endpoints import (
    ENDPOINTS,
    ENDPOINTS_BY_NAME,
    UNSUPPORTED,
    Body,
    CloudRoute,
    Endpoint,
    EndpointMatch,
    Kind,
    QueryRequirement,
    Unsupported,
    fill,
    match_endpoint,
    match_unsupported,
)
from shim.mapping.errors import (
    CLOUD_ERRORS,
    ERROR_CODE_PAIRS,
    ONPREM_ERRORS,
    CloudErrorCode,
    OnPremErrorCode,
    Retry,
    cloud_retry,
    cloud_to_onprem_code,
    onprem_title,
    onprem_to_cloud_code,
)
from shim.mapping.hosts import Target

__all__ = [
    "CLOUD_ERRORS",
    "ENDPOINTS",
    "ENDPOINTS_BY_NAME",
    "ERROR_CODE_PAIRS",
    "ONPREM_ERRORS",
    "UNSUPPORTED",
    "Body",
    "CloudErrorCode",
    "CloudRoute",
    "Endpoint",
    "EndpointMatch",
    "Kind",
    "OnPremErrorCode",
    "QueryRequirement",
    "Retry",
    "Target",
    "Unsupported",
    "cloud_retry",
    "cloud_to_onprem_code",
    "fill",
    "match_endpoint",
    "match_unsupported",
    "onprem_title",
    "onprem_to_cloud_code",
]
