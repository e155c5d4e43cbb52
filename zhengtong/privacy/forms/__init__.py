"""Forms of the privacy center, one module per area. Import the area module you need."""
