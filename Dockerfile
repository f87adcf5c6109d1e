# The bot alone: runtime requirements only (no training or test packages), the emotion model baked in, and the
# SQLite file on the volume /data. With DATABASE_URL set (compose.yaml) the data lives in PostgreSQL instead.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Dependencies first, so that a code change does not reinstall them.
COPY requirements.txt ./
RUN pip install -r requirements.txt
# The package metadata names every requirements file (its extras), though only the runtime is installed here.
COPY pyproject.toml README.md LICENSE requirements-dev.txt ./
COPY train/requirements.txt train/
COPY bot/ bot/
COPY model/ model/
COPY db/ db/
RUN pip install --no-deps . && rm -rf /src

RUN useradd --create-home --uid 10001 moodtunes && mkdir /data && chown moodtunes /data
USER moodtunes
WORKDIR /data
ENV DATABASE_PATH=/data/moodtunes.sqlite3
VOLUME /data
# Only used in webhook mode (WEBHOOK_URL set); long polling needs no port.
EXPOSE 8080

CMD ["python", "-m", "bot"]
