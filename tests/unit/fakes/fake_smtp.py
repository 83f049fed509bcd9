"""A scripted SMTP server for the smtp_session tests, in place of smtplib.SMTP."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import smtplib


class FakeSMTP(object):
    """Answers like a server would; ``replies`` maps a command to (code, text) or an exception."""

    def __init__(self, replies, log):
        self.replies = replies
        self.log = log

    def _answer(self, command, argument=None):
        self.log.append((command, argument))
        reply = self.replies.get((command, argument), self.replies.get(command, (250, b"2.0.0 Ok")))
        if isinstance(reply, Exception):
            raise reply
        return reply

    def connect(self, host, port):
        return self._answer("connect")

    def ehlo(self, name):
        return self._answer("ehlo", name)

    def helo(self, name):
        return self._answer("helo", name)

    def starttls(self, context=None):
        return self._answer("starttls")

    def login(self, user, password):
        return self._answer("auth", user)

    def docmd(self, command, argument):
        # The probe must send addresses verbatim: record exactly what went out.
        verb, _sep, address = argument.partition(":")
        assert address.startswith("<") and address.endswith(">")
        return self._answer(command.lower(), address[1:-1])

    def data(self, body):
        reply = self._answer("data")
        if reply[0] != 250:
            raise smtplib.SMTPDataError(reply[0], reply[1])
        return reply

    def rset(self):
        return self._answer("rset")

    def quit(self):
        self.log.append(("quit", None))

    def close(self):
        self.log.append(("close", None))
