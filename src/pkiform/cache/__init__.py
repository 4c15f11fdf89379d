"""What lets plan and apply skip work that cannot change the answer: seals and the settled mark."""
