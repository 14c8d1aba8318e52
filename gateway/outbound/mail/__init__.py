"""E-mail: plain SMTP delivery and each message people receive (invitations, notifications, sign-in
links, sign-up)."""
