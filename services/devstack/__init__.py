"""The local process stack behind `make up` / `make down`: OpenBao, mock, gateways, nginx."""
