"""The Instagram Graph API simulator."""
