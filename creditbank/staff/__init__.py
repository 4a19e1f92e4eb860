"""Accounts of people who work the bank through its pages: institution staff (clerks, approvers)
and the operator's (district office's) accounts with a second factor. API keys stay for machines."""
