"""An email backend for benchmarks: builds each message as SMTP would send it, keeps a count.

Django's locmem backend keeps every message in memory; at 100,000 messages the garbage
collector's passes over that growing heap would be measured instead of the reminder job.
"""

from django.core.mail.backends.base import BaseEmailBackend


class CountingEmailBackend(BaseEmailBackend):
    sent = 0
    recipients: set = set()

    def send_messages(self, messages):
        for message in messages:
            message.message().as_bytes()
            CountingEmailBackend.sent += 1
            CountingEmailBackend.recipients.update(message.recipients())
        return len(messages)
