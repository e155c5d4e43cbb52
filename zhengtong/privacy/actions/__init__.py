"""Every change in the privacy center, as a named verb, one module per area: consent (consent), notices
(notices), hidden accesses (accesses), objections and corrections (cases). Import the area module you need."""
