"""Pages of online services under /services/, one module per area: the service guide and staff defining items
(items), applying and following an application (apply), the staff workbench (workbench), the inbox (inbox)."""
