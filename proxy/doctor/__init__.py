"""``python -m proxy doctor URL``: check a deployment from outside, as the widget on a site would."""
