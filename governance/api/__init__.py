"""A Graph-compatible REST API (DESIGN §7): Microsoft Graph v1.0's entitlement-management
paths and JSON shapes, served from the same services and permissions as the portal."""
