"""kombu's Redis transport, made to survive Redis going away while a task is in flight.

When the worker loses its connection to Redis, kombu closes the old channel. Two things then
reach Redis through that channel, whose connection is already gone: giving its unacknowledged
messages back (at once), and acknowledging the task that was running (when it ends). Both raise
an AttributeError, which is not one of the connection errors the worker retries on, so the
worker's main process stopped ("Unrecoverable error: AttributeError … 'hostname'"; celery/kombu
issues 582 and 970 show the same path). Here both are skipped when the channel's connection is
gone. Nothing is lost: the message stays in Redis's set of unacknowledged messages, from which
kombu delivers it again after the visibility timeout, and a task delivered twice does nothing
twice (importer.tasks).
"""

import logging

from kombu.transport import redis

logger = logging.getLogger(__name__)


class QoS(redis.QoS):
    def _connection_is_gone(self) -> bool:
        transport = self.channel.connection
        return transport is None or transport.client is None

    def restore_unacked_once(self, stderr=None):
        try:
            return super().restore_unacked_once(stderr)
        except AttributeError:
            if not self._connection_is_gone():
                raise  # Not the closed connection: a real bug, not to be hidden.
            logger.warning(
                "The broker connection is gone: %d unacknowledged message(s) stay in Redis and "
                "are delivered again after the visibility timeout",
                len(self._delivered),
            )

    def ack(self, delivery_tag):
        try:
            return super().ack(delivery_tag)
        except AttributeError:
            if not self._connection_is_gone():
                raise
            logger.warning(
                "The broker connection was lost while a task ran: its message stays in Redis "
                "and is delivered again after the visibility timeout (a repeat does nothing)"
            )

    def reject(self, delivery_tag, requeue=False):
        try:
            return super().reject(delivery_tag, requeue=requeue)
        except AttributeError:
            if not self._connection_is_gone():
                raise
            logger.warning("The broker connection was lost: a rejected message stays in Redis")


class Channel(redis.Channel):
    QoS = QoS


class Transport(redis.Transport):
    Channel = Channel
