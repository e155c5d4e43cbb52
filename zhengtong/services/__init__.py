"""Online services (一网通办): service items, applying once, BPMN workflows and DMN rules, the staff workbench,
notifications and the GovStack Registration API."""
