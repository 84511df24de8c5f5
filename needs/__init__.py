"""Projects, needs (above all équipes flash), roles, priorities and ministry FTE pledges."""
