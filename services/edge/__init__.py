"""The nginx edge: `python -m edge.render` renders nginx/ from NGINX_* variables (stdlib + the catalogue)."""
