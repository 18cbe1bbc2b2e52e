console.log('hostop');
