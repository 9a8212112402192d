"""The human route: tasks that a person answers for the agent."""
