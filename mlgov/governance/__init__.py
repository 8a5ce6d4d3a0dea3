"""Model governance: promotion policies, requests, reviews, alias history and drift findings."""
