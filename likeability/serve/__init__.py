"""`likeability serve`: new photos judged by a finished run, over HTTP (Ray Serve) and on a web page."""
