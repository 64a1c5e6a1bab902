"""Each API code and the HTTP status it answers with, for both REST APIs (the seeds' codes
and Switchboard's own beside them). gateway/errors.py answers with them; gateway/shapes.py
shows them in the OpenAPI document."""

HTTP_STATUS = {
    "INVALID_REQUEST": 400,
    "UNSUPPORTED_BY_TRANSPORT": 400,
    "UNAUTHORIZED": 401,
    "INVALID_CREDENTIALS": 401,
    "FORBIDDEN": 403,
    "INSUFFICIENT_CREDITS": 403,
    "QUOTA_EXCEEDED": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "CONFLICT": 409,
    "ALREADY_CONNECTED": 409,
    "INSTANCE_NOT_CONNECTED": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "MEDIA_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "MEDIA_URL_REFUSED": 400,
    "MEDIA_FETCH_FAILED": 400,
    "RATE_LIMITED": 429,
    "INTERNAL_ERROR": 500,
    "SERVICE_UNAVAILABLE": 503,
}
