# Hearth: one image for the web process (daphne serves HTTP and websockets).
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --system --create-home hearth
COPY requirements-prod.lock ./
RUN pip install --no-cache-dir -r requirements-prod.lock
COPY . .
# collectstatic needs a key to import settings; the real one comes at run time.
RUN SECRET_KEY=build-only DEBUG=false ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput
USER hearth
EXPOSE 8000
CMD ["sh", "-c", "python manage.py migrate --noinput && exec daphne -b 0.0.0.0 -p 8000 --proxy-headers config.asgi:application"]
