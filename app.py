"""gridplan in the browser: ``streamlit run app.py``.

The server's entry. It serves the app — ``app_main.py``, the frame and router, and the pages in
``app_pages/`` — and, as the server starts and before anyone visits, prepares the first visit's map
of the bundled sample city in the background (:mod:`app_pages.boot`), so the first planner does not
wait for the imports, the data and the base map.
"""
from contextlib import asynccontextmanager

import streamlit as st


@asynccontextmanager
async def _lifespan(_app):
    import asyncio

    from app_pages import boot
    th = boot.start()
    if th is not None:      # ready when warm (the thread goes on if it takes longer than boot.WAIT_S)
        await asyncio.get_running_loop().run_in_executor(None, th.join, boot.WAIT_S)
    yield None


# The partition worker is a spawned process that may import this file as ``__mp_main__``: it serves
# nothing.
if __name__ != "__mp_main__":
    app = st.App("app_main.py", lifespan=_lifespan)
    if __name__ == "__main__":      # ``python app.py`` also starts the server
        app.run()
