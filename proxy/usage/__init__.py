"""Token usage per tenant and day, and the daily budgets that act on it."""
