"""``genprior serve``: a local web app to measure an image and recover it with the registered methods.

Needs the ``web`` extra (``pip install "genprior[web]"``: Starlette, uvicorn, python-multipart). Import
:func:`create_app` from :mod:`genprior.web.app`; this package itself imports nothing heavy.
"""
