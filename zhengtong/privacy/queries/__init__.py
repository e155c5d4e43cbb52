"""Reads of the privacy center that carry rules, one module per area. Import the area module you need."""
