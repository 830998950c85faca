"""The report stage: the HTML page, its sections, its plots, and the post funnel it opens with."""
