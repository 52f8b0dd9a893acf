//! API Gateway: routes, events, responses, authorizers, Management API.
