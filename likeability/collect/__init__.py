"""Collection: the Graph API client and its rules, token files, rate limits, importers, and the collect stage."""
