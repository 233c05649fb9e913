# gdb script of native_stacks.sh (`make test` with NATIVE_STACKS=1, as CI runs it): run the command; if it dies
# of a fatal signal, print every thread's native stack, then let the signal through so faulthandler prints the
# Python stacks as well. The crashing thread comes first, 40 frames deep, then every thread's top frames: CI shows
# only a long log's head and tail, and cut the crashing thread out of the middle once. Every other signal goes to
# pytest untouched (the suite's own SIGINT/SIGTERM/SIGALRM tests rely on them).
set pagination off
set confirm off
set print inferior-events off
set print thread-events off
handle all nostop noprint pass
handle SIGINT nostop noprint pass
handle SIGSEGV SIGBUS SIGABRT SIGFPE SIGILL stop print pass
run
if $_isvoid($_exitcode)
  echo \n--- native stacks at the crash (gdb) ---\n
  echo the crashing thread:\n
  bt 40
  echo every thread, top frames:\n
  thread apply all bt 6
  continue
end
