"""What a program reports for a period: the figures, and their charts."""
