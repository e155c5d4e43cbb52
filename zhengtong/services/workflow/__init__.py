"""The process engine: BPMN 2.0 processes and DMN decision tables run by SpiffWorkflow, state kept in the database."""
