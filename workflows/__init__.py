"""The domain: what may happen to documents, shares and people. Platform-free."""
